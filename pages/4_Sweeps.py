"""Sweeps: one statistic of a sweep's points against a grid parameter, coloured by another (or by method), with CI
bands over the seeds and test image groups; the table below and a CSV download."""

import streamlit as st

import app_resources as res
from optical import explore

st.set_page_config(page_title="Sweeps · optical", page_icon="🌍", layout="wide")
st.title("Sweeps")

sweeps = explore.describe_sweeps()
if not sweeps:
    res.stop_with("No sweep yet: run one, e.g. `python -m optical sweep --preset quick --grid ot.reg=0.02,0.05,0.2 "
                  "--seeds 0 --methods zero-shot,mse,optical`.", "info")
info = st.sidebar.selectbox("Sweep", sweeps, format_func=lambda s: s.label)
frame = res.sweep_table(info)
if frame.empty:
    res.stop_with(f"No run of sweep {info.sweep.sweep_id} has finished yet ({info.done}/{info.total} done).", "info")
keys = list(info.grid)
figure = st.sidebar.selectbox("Statistic", explore.sweep_figures(frame),
                              help="mean, std and high- minus low-resource gap of mR over the non-English languages, "
                                   "or one language's mR")
x = st.sidebar.selectbox("x axis", keys)
colour = st.sidebar.selectbox("Colour", [explore.METHOD, *(k for k in keys if k != x)])
method = None
if colour != explore.METHOD:
    method = st.sidebar.selectbox("Method", list(dict.fromkeys(frame["method"])))

lines = explore.sweep_lines(frame, info.grid, figure, x, colour, method)
st.plotly_chart(explore.sweep_chart(lines, info.grid, figure, x), key="sweep")
st.caption(f"{info.label}. Bands: 95% intervals resampling the seeds, then the test image groups.")
st.dataframe(lines, hide_index=True)
st.download_button(
    "Download the sweep's table (CSV)",
    frame.to_csv(index=False).encode("utf-8"),
    file_name=f"{info.sweep.sweep_id}.csv",
    mime="text/csv",
)
