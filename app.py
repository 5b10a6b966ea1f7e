"""Entry point: placeholder until the dashboard lands."""

import streamlit as st

st.set_page_config(page_title="ChatKit Session Analytics", layout="wide")
st.title("ChatKit Session Analytics")
st.write("The dashboard is being built; use `python -m chatkit` meanwhile.")
