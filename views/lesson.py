"""/lesson: the paper's three claims in four parts, for a presenter or a student alone: each claim on the shipped
study's average (left) and on the sidebar's image analysed as one of its jobs (right), Back and Next, the part
in the URL (``?part=3``) and a projector mode (``?projector=1``); the last part leads to /study."""

import streamlit as st

from mimi.ui import lesson

lesson.projector_mode()
key = lesson.header()
report = lesson.study_report()
if key == "intro":
    left, right = st.columns([3, 2], gap="medium")
    with left:
        lesson.intro_side(report)
    lesson.intro_chart(report)
else:
    lesson.claim_heading(report, key)
    left, right = st.columns(2, gap="medium")
    with left:
        lesson.study_side(report, key)
lesson.navigation(key)
with right:   # last: the image's jobs may compute, or stop the page without a selection
    if key == "intro":
        lesson.intro_image(report)
    else:
        lesson.image_side(report, key)
