"""Streamlit-side helpers shared by the dashboard pages (only this package, views/ and app.py import Streamlit)."""
