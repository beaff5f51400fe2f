"""Studies: the paper's figures over many images and models, resumable, in-process or on Ray.

    plan = plan_study(["fmnist-standard", "fmnist-pgd-at"], gallery_images(range(20)), StudyParams(), seed=0)
    run_study("runs/s1", plan)                  # or ray="local" / ray="HOST:PORT"; rerun to resume
    report = build_report("runs/s1")            # StudyReport: figures' numbers and the three claims
    report_html(report)                         # mimi.figures.report_page: one self-contained HTML page

- :mod:`mimi.batch.study.plan`: the settings (:class:`StudyParams`), the images, one job per (image, model) keyed by
  the hash of its inputs, and the manifest ``study.json``;
- :mod:`mimi.batch.study.jobs`: what one job computes (:class:`StudyJobResult`, :class:`StudyRunner`);
- :mod:`mimi.batch.study.planning`: the models loaded and the jobs listed (:func:`plan_study`);
- :mod:`mimi.batch.engine`: running the missing jobs, in-process or on Ray, and the folder's status (the same
  engine runs the gallery studies, :mod:`mimi.batch.gallery`);
- :mod:`mimi.batch.study.report`: the report across images (:mod:`mimi.batch.study.summaries`), the claims and their verdicts
  (:mod:`mimi.batch.study.claims`, :mod:`mimi.batch.study.stats`), as tables and one HTML page (:mod:`mimi.figures.report_page`).
Nothing here imports Streamlit; Ray is imported only when a run asks for it.
"""

from mimi.batch.engine import JobFailure, StudyMismatch, StudyStatus, run_study, study_status
from mimi.batch.study.jobs import ImageDisentanglement, StudyJobResult, StudyRunner, run_job
from mimi.batch.study.plan import (STUDY_DIR, Job, StudyImage, StudyManifest, StudyParams, dataset_images,
                                   folder_images, gallery_images)
from mimi.batch.study.planning import StudyPlan, plan_study
from mimi.batch.study.report import StudyReport, build_report

__all__ = [
    "STUDY_DIR", "ImageDisentanglement", "Job", "JobFailure", "StudyImage", "StudyJobResult", "StudyManifest",
    "StudyMismatch", "StudyParams", "StudyPlan", "StudyReport", "StudyRunner", "StudyStatus", "build_report",
    "dataset_images", "folder_images", "gallery_images", "plan_study", "run_job", "run_study", "study_status",
]
