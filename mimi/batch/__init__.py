"""Computations over many images, run by one job engine (:mod:`mimi.batch.engine`: a folder of job results, filled
resumably, in-process or on Ray): the interaction study (:mod:`mimi.batch.study`: plan, jobs, report) and the gallery
studies (:mod:`mimi.batch.gallery`): the dashboard's gallery references (:mod:`mimi.batch.population`) and the
defenses studies."""
