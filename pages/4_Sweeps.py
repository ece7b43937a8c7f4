"""Sweeps: one statistic of a sweep's points against a grid parameter, coloured by another (or by method), with CI
bands over the seeds and test image groups; the table below and a CSV download."""

import streamlit as st

import app_resources as res
from optical import explore
from optical.results import GOAL_EN_DROP, GOAL_STD_CUT, goal_table

st.set_page_config(page_title="Sweeps · optical", page_icon="🌍", layout="wide")
st.title("Sweeps")

sweeps = explore.describe_sweeps()
if not sweeps:
    res.stop_with("No sweep yet: run one, e.g. `python -m optical sweep --preset quick --grid ot.reg=0.02,0.05,0.2 "
                  "--seeds 0 --methods zero-shot,mse,optical`.", "info")
info = st.sidebar.selectbox("Sweep", sweeps, format_func=lambda s: s.label)
sources = ["val", "test", *(f"eval: {name}" for name in info.evaluations)]
source = st.sidebar.radio("Split", sources, index=1, horizontal=True,
                          help="choose a setting on the comparable val sets, then read it on test; `optical eval "
                               "SWEEP --dataset art4apps` adds the runs' evaluation on another dataset")
split, evaluation = ("test", source.removeprefix("eval: ")) if source.startswith("eval: ") else (source, None)
where = f"evaluation {evaluation}" if evaluation else split
frame = res.sweep_table(info, split, evaluation)
if frame.empty:
    res.stop_with(f"No run of sweep {info.sweep.sweep_id} with {where} ranks has finished yet "
                  f"({info.done}/{info.total} done).", "info")
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
st.caption(f"{info.label}. Bands: 95% intervals resampling the seeds, then the image groups of {where}.")
st.dataframe(lines, hide_index=True, key="lines")

goal = goal_table(frame)
if not goal.empty:
    st.subheader("Against zero-shot: the research goal")
    met = goal[goal["meets goal"]]
    st.markdown(
        f"Goal: a method and setting that cuts zero-shot's std of mR across the non-English languages by at least "
        f"{GOAL_STD_CUT:.0%} while English mR drops at most {GOAL_EN_DROP:g} point; choose on val, "
        f"confirm on test. On {where}: "
        + (f"**{len(met)} of {len(goal)}** point x method pairs meet it on their point estimates "
           f"({', '.join(f'{r.method} at {r.point}' for r in met.itertuples())}); read their intervals."
           if len(met) else f"**none** of the {len(goal)} point x method pairs meets it.")
    )
    st.dataframe(goal, hide_index=True, key="goal",
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in goal.columns
                                if goal[c].dtype.kind == "f"})
st.download_button(
    "Download the sweep's table (CSV)",
    frame.to_csv(index=False).encode("utf-8"),
    file_name=f"{info.sweep.sweep_id}.csv",
    mime="text/csv",
)
