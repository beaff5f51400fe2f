"""Streamlit-side helpers shared by the dashboard pages (only this package, pages/ and app.py import Streamlit)."""
