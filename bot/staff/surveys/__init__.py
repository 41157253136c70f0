"""Surveys for staff (SPEC §3.5, §3.7), without the web: what the admin API
and the staff pages both call, so that rules and audit are the same on both.

- `views`: the read shapes (`SurveyOut`, `ResultsOut`, …), the filters
  (`SurveyFilters` for the list, `ResultFilters` for the results), the list,
  finding one survey, and the live results.
- `definition`: a survey as its JSON definition, the example to start from,
  and cleaning what was sent.
- `actions`: define, change, publish (and invite), invite, close — each a
  change with its audit entry.
- `export`: the results as table rows, CSV and XLSX bytes; every export audited.

Nothing here says who answered: an anonymous survey's responses hold no
citizen, channel, language, settlement or time of day, and a named one's
results and exports show channel, language and settlement, never a name."""
