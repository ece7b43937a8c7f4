"""Image search: a query in any language against the test gallery, each model side by side; or an uploaded
image against the test captions; for a late-teacher run (scored by late interaction), also which region of an
image each token of a caption matches."""

import streamlit as st

import app_resources as res
from optical import explore
from optical.errors import InputError, OpticalError

st.set_page_config(page_title="Image search · optical", page_icon="🌍", layout="wide")
st.title("Image search")

info, run = res.select_run()
evaluation = res.select_evaluation(run)
gallery = res.gallery(info, evaluation)
models = res.models(info).text_models
k = st.sidebar.slider("Results per model", 1, min(20, len(gallery.images)), min(5, len(gallery.images)))
mode = st.radio("Search", ["Text → images", "Image → captions", "Token → region"], horizontal=True)
languages = [lang for lang in gallery.captions if gallery.captions[lang]["texts"]]
if gallery.late:
    st.caption(f"This run's teacher scores by late interaction (FILIP: each token meets its best region of a "
               f"{gallery.region_side} x {gallery.region_side} grid, each region its best token): galleries up to "
               f"{explore.LATE_EXACT_MAX:,} images are ranked exactly, larger ones re-rank the pooled top "
               f"{explore.LATE_CANDIDATES}.")

if mode == "Token → region":
    if not gallery.late:
        res.stop_with(res.LATE_NOTE, "info")
    foreign_languages = [lang for lang in languages if lang != "en" and gallery.test_pairs(lang)]
    if not foreign_languages:
        res.stop_with("The view needs test captions in a language besides English, with English counterparts.",
                      "info")
    language = st.selectbox("Language", foreign_languages, key="late-language")
    foreign, english, truth = st.selectbox("Caption pair", gallery.test_pairs(language),
                                           format_func=lambda pair: f"{pair[0]}  ↔  {pair[1]}")
    names = list(models)
    method = st.selectbox("Student (reads the caption)", names,
                          index=names.index("optical") if "optical" in names else 0)
    image = st.selectbox("Image", range(len(gallery.images)), index=truth, format_func=res.image_label(gallery))
    res.token_region_view(info, gallery, language=language, method=method, foreign=foreign, english=english,
                          image=image, key="search-late")
    st.stop()

if mode == "Image → captions":
    language = st.selectbox("Captions in", languages)
    upload = st.file_uploader("Upload an image", type=["png", "jpg", "jpeg", "gif", "webp", "bmp"],
                              help=f"At most {explore.MAX_UPLOAD_PIXELS:,} pixels (a JPEG counts at its reduced decoding scale); "
                                   "larger ones are refused, large ones downscaled")
    if upload is None:
        res.stop_with("Upload an image to see which test captions each model ranks highest.", "info")
    image = res.or_stop(explore.read_image, upload.getvalue(), upload.name)
    st.image(image, width=160)
    if gallery.late:  # the image's regions against each caption's tokens
        grid = int(res.models(info).config.get("region_grid", gallery.region_side))
        ranked = res.or_stop(explore.rank_captions_late, image, res.image_encoder(info), res.models(info).teacher,
                             res.caption_tokens(info, language, evaluation), grid, k)
    else:
        ranked = res.or_stop(  # a model whose embeddings are NaN or infinite: one line naming it, not garbage hits
            explore.rank_captions, image, res.image_encoder(info), res.models(info).teacher,
            res.caption_embeddings(info, language, evaluation), k,
        )
    texts = gallery.captions[language]["texts"]
    for column, (method, result) in zip(st.columns(len(ranked)), ranked.items()):
        column.markdown(f"**{method}** · {result.latency_ms:.1f} ms")
        column.table({"caption": [texts[i] for i in result.indices], "score": [f"{s:.3f}" for s in result.scores]})
    st.stop()

if gallery.missing:
    st.warning(f"Images not shown: {gallery.missing}")
source = st.radio("Query", ["Type a query", "Pick a test caption"], horizontal=True)
truth, english = None, None
if source == "Pick a test caption":
    language = st.selectbox("Language", [lang for lang in languages if lang != "en"] or languages)
    pairs = gallery.test_pairs(language)
    if not pairs:
        res.stop_with(f"No {language} test caption has an English counterpart in this run.", "info")
    text, english, truth = st.selectbox("Caption", pairs, format_func=lambda pair: pair[0])
else:
    text = st.text_input("Query, in any language", placeholder="ein roter Apfel · تفاحة حمراء · 🍎")
try:
    query = explore.clean_query(text)
except InputError as err:
    res.stop_with(str(err), "info")
if query.notice:
    st.warning(query.notice)

columns = {f"{m} (teacher)" if m == "zero-shot" else m: (model, query.text) for m, model in models.items()}
if english is not None:
    columns["teacher, English caption"] = (models["zero-shot"], english)
relevant = gallery.relevant(truth) if truth is not None else set()
for column, (name, (model, text)) in zip(st.columns(len(columns)), columns.items()):
    column.markdown(f"**{name}**")
    try:
        if gallery.late:
            result = explore.search_images_late(model, text, gallery.regions, gallery.index, k, name)
        else:
            result = explore.search_images(model, text, gallery.index, k, name)
    except OpticalError as err:  # a model whose embeddings are NaN or infinite: its column says so
        column.error(str(err))
        continue
    how = f" · {result.how}" if gallery.late else ""
    column.caption(f"{result.latency_ms:.1f} ms (search {result.search_ms:.2f} ms){how}")
    for rank, (index, score) in enumerate(zip(result.indices, result.scores), start=1):
        hit = column.container(border=index in relevant)
        path = gallery.images[index]
        if path.is_file():
            hit.image(str(path), width=120)
        mark = " · ✅ ground truth" if index in relevant else ""
        hit.caption(f"{rank}. {path.stem} · {score:.3f}{mark}")
