"""The staff side: accounts, roles, tokens, audit, the admin API and the staff pages."""
