"""Studies: the paper's figures over many images and models, resumable, in-process or on Ray.

    plan = plan_study(["fmnist-standard", "fmnist-pgd-at"], gallery_images(range(20)), StudyParams(), seed=0)
    run_study("runs/s1", plan)                  # or ray="local" / ray="HOST:PORT"; rerun to resume
    report = build_report("runs/s1")            # StudyReport: figures' numbers and the three claims
    report_html(report)                         # one self-contained HTML page

- :mod:`mimi.study.plan`: the settings (:class:`StudyParams`), the images, one job per (image, model) keyed by
  the hash of its inputs, and the manifest ``study.json``;
- :mod:`mimi.study.jobs`: what one job computes (:class:`StudyJobResult`) and its atomic result file;
- :mod:`mimi.study.run`: running the missing jobs, in-process or on Ray, and the folder's status;
- :mod:`mimi.study.report`: the report across images (:mod:`mimi.study.summaries`), the claims and their verdicts
  (:mod:`mimi.study.claims`, :mod:`mimi.study.stats`), as tables and one HTML page (:mod:`mimi.study.report_page`).
Nothing here imports Streamlit; Ray is imported only when a run asks for it.
"""

from mimi.study.jobs import ImageDisentanglement, StudyJobFailure, StudyJobResult, run_job
from mimi.study.plan import (STUDY_DIR, Job, StudyImage, StudyManifest, StudyParams, StudyPlan, dataset_images,
                             folder_images, gallery_images, plan_study)
from mimi.study.report import StudyReport, build_report
from mimi.study.report_page import report_html
from mimi.study.run import StudyMismatch, StudyStatus, run_study, study_status

__all__ = [
    "STUDY_DIR", "ImageDisentanglement", "Job", "StudyImage", "StudyJobFailure", "StudyJobResult", "StudyManifest",
    "StudyMismatch", "StudyParams", "StudyPlan", "StudyReport", "StudyStatus", "build_report", "dataset_images",
    "folder_images", "gallery_images", "plan_study", "report_html", "run_job", "run_study", "study_status",
]
