"""Recall by language: grouped bars with CI error bars, disparity figures, and the metric against resource size."""

import plotly.express as px
import streamlit as st

import app_resources as res
from optical import explore

st.set_page_config(page_title="Recall by language · optical", page_icon="🌍", layout="wide")
st.title("Recall by language")

info, run = res.select_run()
evaluation = res.select_evaluation(run)
metric = st.sidebar.selectbox("Metric", ["mR", "R@1", "R@5", "R@10"])
direction = st.sidebar.radio(
    "Direction", ["t2i", "i2t"], format_func={"t2i": "text → image", "i2t": "image → text"}.get, disabled=metric == "mR"
)
key = metric if metric == "mR" else f"{direction}_{metric}"
tables = res.run_tables(run, key, evaluation)
table = tables["recall"]
data = res.metrics(run, evaluation)
languages = data["languages"]  # by CC-100 size, largest first; unseen last
if evaluation is not None:
    undistilled = [lang for lang in languages if lang != "en" and lang not in data.get("distilled", [])]
    st.caption(f"Evaluation {evaluation!r} on {data.get('dataset')}."
               + (f" Not distilled on (zero-shot transfer of the students): {', '.join(undistilled)}." if undistilled else "")
               + (" Encoded in bf16 (`--precision bf16`): ranks may differ from fp32's at near-ties."
                  if data.get("precision") == "bf16" else ""))
colours = dict(zip(table["method"].unique(), px.colors.qualitative.Plotly))

bars = px.bar(
    table,
    x="language",
    y="value",
    color="method",
    color_discrete_map=colours,
    barmode="group",
    error_y=table["hi"] - table["value"],
    error_y_minus=table["value"] - table["lo"],
    category_orders={"language": languages},
    hover_data=["group", "cc100_gib", "lo", "hi"],
    labels={"value": f"{key} (%)", "language": "language (most to least pre-training data)"},
)
st.plotly_chart(bars, key="bars")
st.download_button(
    "Download the table (CSV)",
    table.to_csv(index=False).encode("utf-8"),
    file_name=f"{info.run_id}-{evaluation or 'test'}-{key}.csv",
    mime="text/csv",
)

st.subheader("Disparity across non-English languages (mR points)")
st.dataframe(tables["disparity"])

st.subheader(f"{key} against XLM-R pre-training data")
points, fits = explore.resource_fit(table)
if points.empty:
    res.stop_with("No language of this run has a known CC-100 size (all unseen by XLM-R).", "info")
scatter = px.scatter(
    points,
    x="log10_gib",
    y="value",
    color="method",
    color_discrete_map=colours,
    text="language",
    labels={"log10_gib": "log10 CC-100 size (GiB)", "value": f"{key} (%)"},
)
for fit in fits.itertuples():
    xs = [points["log10_gib"].min(), points["log10_gib"].max()]
    scatter.add_scatter(
        x=xs,
        y=[fit.intercept + fit.slope * x for x in xs],
        mode="lines",
        line_color=colours[fit.method],
        name=f"{fit.method}: {fit.slope:+.1f} per 10x",
    )
scatter.update_traces(textposition="top center", selector={"mode": "markers+text"})
st.plotly_chart(scatter, key="scatter")
st.dataframe(fits.rename(columns={"slope": "slope (points per 10x data)"}), hide_index=True)
st.caption("Unseen languages have no CC-100 size and are left out of the fit; English is the reference, not a point.")
