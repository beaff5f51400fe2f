"""Computations over many images: the study (jobs, plan, run on Ray or in-process, report), the gallery
references of the dashboard (:mod:`mimi.batch.population`) and the defenses studies (:mod:`mimi.batch.defenses`)."""
