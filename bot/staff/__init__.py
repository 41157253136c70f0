"""The staff domain without the web: accounts, permissions, audit, one-time
codes, and per capability the staff use-cases (filters, queries, actions, the
audit of views, export rows). The admin API and the staff pages both call
these; nothing here imports FastAPI, Starlette or Jinja2."""
