"""Transport plans: how each student's foreign tokens are matched to the teacher's English tokens; for a late-teacher
run, also which region of an image each of those tokens matches."""

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

pair_image = 0  # the image of a test pair, the token -> region view's default image
if st.radio("Sentence pair", ["From the test split", "Type both sentences"], horizontal=True) == "Type both sentences":
    foreign = st.text_input(f"Sentence in {language}", placeholder="ein roter Apfel")
    english = st.text_input("English sentence", placeholder="a red apple")
else:
    foreign, english, pair_image = st.selectbox("Test pair", gallery.test_pairs(language),
                                                format_func=lambda p: f"{p[0]}  ↔  {p[1]}")
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
    for column, which in zip(st.columns(2), ("plan", "cost")):
        column.plotly_chart(explore.plan_figure(sample, which, language, method), key=f"{method}-{which}")
    st.dataframe(explore.top_alignments(sample, 8), hide_index=True)

if {"optical", "mse"} <= set(losses):
    st.markdown(
        f"**OPTICAL vs MSE.** OPTICAL's student transports this pair at cost {losses['optical']:.4f}, "
        f"MSE's at {losses['mse']:.4f} ({losses['optical'] - losses['mse']:+.4f})."
    )

st.subheader("Token → region")
if not gallery.late:
    res.stop_with(res.LATE_NOTE, "info")
st.caption("Which part of the picture each token matches (cosine of its state with each region of the late teacher's "
           "grid): the student's tokens of the foreign sentence beside the teacher's of the English one, linked by the "
           "plan above.")
method = st.selectbox("Student", students, index=students.index("optical") if "optical" in students else 0,
                      key="late-student")
image = st.selectbox("Image", range(len(gallery.images)), index=pair_image, format_func=res.image_label(gallery))
res.token_region_view(info, gallery, language=language, method=method, foreign=foreign, english=english, image=image,
                      key="plans-late")
