"""Home: the runs in cache/runs, the headline table with the verdict, the teacher and its English recall per
evaluated dataset, and the built-in experiment's launcher.

Start with ``streamlit run app.py`` (binds to 127.0.0.1, see .streamlit/config.toml). This script is also the
app's navigation (``st.navigation``): Home is the rest of it, titled "Home" in the sidebar (not the file's name),
the other pages are ``pages/*.py`` in the order of their number.
"""

import re
import time
from pathlib import Path

import pandas as pd
import streamlit as st

import app_resources as res
from optical import explore
from optical.config import english_term
from optical.results import english_note, headline_table, interval_note
from optical.store import Study


def home() -> None:
    """Home's page object: what it shows is the rest of this script, drawn when it is the selected page."""


PAGES = sorted((Path(__file__).parent / "pages").glob("[0-9]*.py"), key=lambda p: int(re.match(r"\d+", p.name)[0]))
HOME = st.Page(home, title="Home", icon="🌍", default=True)
page = st.navigation([HOME, *(st.Page(f"pages/{p.name}") for p in PAGES)])
if page is not HOME:
    page.run()
    st.stop()

st.set_page_config(page_title="optical", page_icon="🌍", layout="wide")
st.title("optical")
st.markdown(
    "Does token-level **optimal-transport distillation** (OPTICAL) shrink the retrieval gap between high- and "
    "low-resource languages, compared with sentence-level MSE distillation and the zero-shot teacher?"
)


@st.fragment(run_every=1.0)
def job_panel(job: explore.ExperimentJob) -> None:
    """Progress bar and live log of a background experiment; the whole page reruns as methods finish."""
    fraction, message = job.progress()
    st.progress(fraction, text=f"`{job.run_id}`: {message}")
    st.code("\n".join(job.log_lines(12)) or "starting…", language=None)
    if st.button("Stop", key=f"stop-{job.run_id}"):
        job.stop()
    seen = st.session_state.setdefault("seen", {})
    infos = explore.describe_runs(check_metrics=False)
    now = (job.state, *next((i.methods_done for i in infos if i.run_id == job.run_id), []))
    if seen.setdefault(job.run_id, now) != now:
        seen[job.run_id] = now
        st.rerun(scope="app")


for job in res.jobs().values():
    if job.state == "running":
        job_panel(job)
    elif job.state == "done":
        st.success(f"Experiment `{job.run_id}` finished; its results are below.")
    else:
        ended = "was stopped" if job.state == "stopped" else f"stopped with exit status {job.returncode}"
        st.error(f"Experiment `{job.run_id}` {ended}. Last log lines:")
        st.code("\n".join(job.log_lines(15)), language=None)

infos = explore.describe_runs()
running = any(job.state == "running" for job in res.jobs().values())
with st.expander("Run the built-in experiment", expanded=not infos and not running):
    preset = st.radio(
        "Preset",
        ["quick", "full"],
        captions=[
            "6 languages, 1 student epoch: a few minutes on 2 CPU cores",
            "12 languages, 2 student epochs: about 10 minutes on 2 CPU cores",
        ],
        horizontal=True,
    )
    if st.button("Run the built-in experiment", type="primary", disabled=running):
        st.session_state["run_id"] = res.start_experiment(preset).run_id
        st.rerun()
if not infos:
    res.stop_with("No run yet: start the built-in experiment above (results appear as each method finishes).", "info")

st.subheader("Runs")
st.dataframe(
    pd.DataFrame(
        {
            "run": [i.run_id for i in infos],
            "state": [i.state for i in infos],
            "started": [time.strftime("%Y-%m-%d %H:%M", time.localtime(i.started)) if i.started else "" for i in infos],
            "methods done": [", ".join(i.methods_done) for i in infos],
            "languages": [", ".join(i.languages) for i in infos],
            "problem": [i.problem for i in infos],
        }
    ),
    hide_index=True,
)

studies = [(study, study.metrics()) for study in Study.find_all()]
studies = [(study, summary) for study, summary in studies if summary]
if studies:  # a study's summary is written when its last seed finishes: reading it costs no bootstrap here
    st.subheader("Studies (several training seeds)")
    names = [study.study_id for study, _ in studies]
    summary = dict(zip(names, (m for _, m in studies)))[st.selectbox("Study", names)]
    study_english = english_note(summary)
    st.caption(f"mR, {interval_note(summary)}; runs {', '.join(summary.get('runs', []))}."
               + (f" Distillation: {study_english}." if study_english else ""))
    st.dataframe(headline_table(summary))
    st.markdown(f"**Verdict.** {summary.get('verdict', '')}")

info, run = res.select_run(st)
tables = res.run_tables(run)
st.subheader("mR per language and method (%, 95% bootstrap CI)")
english = english_note({"english_term": english_term(run.config)})
st.caption("Languages from the most to the least pre-training data; unseen ones last. mR = mean of R@1/5/10 both ways."
           + (f" Distillation: {english}." if english else ""))
st.dataframe(tables["headline"])
st.markdown(f"**Verdict.** {tables['verdict']}")
st.subheader("Disparity across non-English languages (mR points)")
st.caption("slope_log_size: mR points per 10x more CC-100 pre-training text.")
st.dataframe(tables["disparity"])

st.subheader("Teacher")
st.markdown(" · ".join(f"**{label}**: {value}" for label, value in res.or_stop(explore.describe_teacher, run).items()))
st.caption("English mR of the teacher as is (zero-shot; %, 95% bootstrap CI) on the run's test split and on each "
           "evaluation (`python -m optical eval`).")
st.dataframe(res.or_stop(explore.teacher_recall, run), hide_index=True)
