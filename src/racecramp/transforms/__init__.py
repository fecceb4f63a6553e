"""Pure polars transforms: warehouse frames in, marts out (no I/O, no Prefect, no Streamlit).

Modules: `stats` (confidence intervals), `exposure` (who passed which point, when),
`rates` (cramp-rate marts with denominators and Wilson CIs), `slowdown` (late-race pace
drop), `survey` (post-race survey risk factors), `heat` (WBGT and flags), `hazard`.
"""
