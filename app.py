"""mimi's dashboard: ``streamlit run app.py``.

The page scripts live in views/ (a folder named pages/ would switch Streamlit to its legacy
multipage mode, which runs page scripts without this file), shared parts in mimi/ui/.
"""

import streamlit as st

from mimi.ui import sidebar, state
from mimi.ui.page import SELECTION_KEY

st.set_page_config(page_title="mimi · why adversarial attacks work", page_icon="🧩", layout="wide",
                   menu_items={"About": "mimi: multi-order interactions of image models, and what attacks do to them."})

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/lesson.py", title="Lesson", icon=":material/school:", url_path="lesson"),
    st.Page("views/attack.py", title="Attack", icon=":material/bolt:", url_path="attack"),
    st.Page("views/interactions.py", title="Interactions by order", icon=":material/bar_chart:", url_path="interactions"),
    st.Page("views/pairs.py", title="Pixel pairs", icon=":material/grid_on:", url_path="pairs"),
    st.Page("views/disentanglement.py", title="Disentanglement", icon=":material/hub:", url_path="disentanglement"),
    st.Page("views/defenses.py", title="Defenses", icon=":material/shield:", url_path="defenses"),
    st.Page("views/detection.py", title="Detection", icon=":material/radar:", url_path="detection"),
    st.Page("views/recovery.py", title="Recovery", icon=":material/healing:", url_path="recovery"),
    st.Page("views/study.py", title="Study", icon=":material/query_stats:", url_path="study"),
    st.Page("views/models.py", title="Models", icon=":material/memory:", url_path="models"),
]

current = st.navigation(PAGES)
st.session_state[SELECTION_KEY] = sidebar.render()
try:
    current.run()
finally:
    state.sync_url()
