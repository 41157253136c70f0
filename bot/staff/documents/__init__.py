"""Requests for public documents (Law 06/L-081), the staff side without the
web (SPEC §3.3, §3.7):

- `views`: the shapes staff see, the queue's filter model, the queries (the
  queue, one request, what is overdue or due today, the year's summary) and
  the audit of shown personal data;
- `actions`: state changes, internal notes and uploads, each audited;
- `export`: the queue as CSV;
- `files`: what an uploaded file really is, its name, where it is kept.

The admin API (`bot.admin.api.documents`) and the staff pages
(`bot.admin.document_pages`) both call these."""
