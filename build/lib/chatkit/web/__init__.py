"""The dashboard's Streamlit code; the only package that imports Streamlit. Pages live in pages/."""
