"""Quality: measuring and tuning the matcher (evaluate, corpus, fit, feedback_split, tune, tune_plot) and the
admin's preview of a config change (preview)."""
