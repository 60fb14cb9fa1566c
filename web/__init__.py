"""The web app: the buyer's arrival page, the upload API and the operator's pages (FastAPI)."""
