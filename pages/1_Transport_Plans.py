"""Transport plans: how each student's foreign tokens are matched to the teacher's English tokens."""

import plotly.express as px
import streamlit as st

import app_resources as res
from optical import explore
from optical.errors import InputError, OpticalError
from optical.results import plan_note, plan_table

st.set_page_config(page_title="Transport plans · optical", page_icon="🌍", layout="wide")
st.title("Transport plans")
st.caption(
    "T is the entropic OT plan between the student's tokens of the foreign sentence (rows) and the frozen "
    "teacher's tokens of the English one (columns); C is the cost 1 - cos. OPTICAL's loss is <T, C>."
)

info, run = res.select_run()
evaluation = res.select_evaluation(run)
gallery = res.gallery(info, evaluation)
methods = ["zero-shot", *[m for m in info.methods_done if m not in ("zero-shot", "translate-test")]]
default = [m for m in ("optical", "mse") if m in methods] or methods[:1]
students = st.sidebar.multiselect("Students", methods, default=default)
languages = [lang for lang in gallery.captions if lang != "en" and gallery.test_pairs(lang)]
if not languages or not students:
    res.stop_with("Pick at least one student; the run needs test captions in a language besides English.", "info")
language = st.sidebar.selectbox("Language", languages)

try:  # the run's plan diagnostics (metrics.json); a run without them, or unreadable, still draws plans below
    summary = explore.load_metrics(run) if info.has_results else {}
except OpticalError:
    summary = {}
diagnostics = plan_table(summary)
st.subheader("How much alignment the plans carry")
if diagnostics.empty:
    st.caption("This run records no plan diagnostics (made before they were, or not finished): the heatmaps below "
               "are its saved samples.")
else:
    # the report's note is wrapped for a terminal: one caption here, and the cap's warning apart
    lines = [line.strip() for line in plan_note(summary).splitlines()]
    unconverged = [line for line in lines if line.startswith("not converged")]
    note = " ".join(line for line in lines if line not in unconverged)
    st.caption(note.replace("<s>, </s>", "`<s>`, `</s>`"))  # markdown would read <s> as a tag
    for line in unconverged:
        st.warning(line[0].upper() + line[1:])
    st.dataframe(diagnostics.style.format(
        {"row error at stop": "{:.1e}", "iterations": "{:.0f}", "epsilon": "{:.4g}"}, precision=3, na_rep="-"))

if st.radio("Sentence pair", ["From the test split", "Type both sentences"], horizontal=True) == "Type both sentences":
    foreign = st.text_input(f"Sentence in {language}", placeholder="ein roter Apfel")
    english = st.text_input("English sentence", placeholder="a red apple")
else:
    foreign, english, _ = st.selectbox("Test pair", gallery.test_pairs(language), format_func=lambda p: f"{p[0]}  ↔  {p[1]}")
try:
    queries = explore.clean_query(foreign), explore.clean_query(english)
except InputError as err:
    res.stop_with(f"Type both sentences ({err}).", "info")
for notice in {q.notice for q in queries} - {None}:
    st.warning(notice)
foreign, english = (q.text for q in queries)

losses = {}
for method in students:
    sample = res.plan(info, method, foreign, english)
    losses[method] = sample["loss"]
    st.subheader(f"{method} · OT loss ⟨T, C⟩ = {sample['loss']:.4f}")
    y, x = explore.axis_labels(sample["foreign_tokens"]), explore.axis_labels(sample["english_tokens"])
    left, right = st.columns(2)
    for column, name, values, scale in ((left, "plan T", sample["plan"], "Blues"), (right, "cost C", sample["cost"], "Reds")):
        figure = px.imshow(values, x=x, y=y, color_continuous_scale=scale, aspect="auto", title=name)
        figure.update_layout(xaxis_title="English (teacher)", yaxis_title=f"{language} ({method})", height=420)
        column.plotly_chart(figure, key=f"{method}-{name}")
    st.dataframe(explore.top_alignments(sample, 8), hide_index=True)

if {"optical", "mse"} <= set(losses):
    st.markdown(
        f"**OPTICAL vs MSE.** OPTICAL's student transports this pair at cost {losses['optical']:.4f}, "
        f"MSE's at {losses['mse']:.4f} ({losses['optical'] - losses['mse']:+.4f})."
    )
