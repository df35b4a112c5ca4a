from django.urls import path

from imports.api import upload_views
from imports.api import views as job_views

urlpatterns: list = [
    path("uploads", upload_views.UploadCollectionView.as_view(), name="upload-collection"),
    path("uploads/<str:upload_id>", upload_views.UploadDetailView.as_view(), name="upload-detail"),
    path("uploads/<str:upload_id>/file", upload_views.UploadFileView.as_view(), name="upload-file"),
]

# Import jobs, for lists and (manual members) audiences alike.
for _kind, _prefix in (("list", "lists/<str:owner_id>"), ("audience", "audiences/<str:owner_id>")):
    urlpatterns += [
        path(f"{_prefix}/import", job_views.ImportStartView.as_view(owner_kind=_kind), name=f"{_kind}-import"),
        path(f"{_prefix}/jobs", job_views.JobCollectionView.as_view(owner_kind=_kind), name=f"{_kind}-jobs"),
        path(f"{_prefix}/jobs/<str:job_id>", job_views.JobDetailView.as_view(owner_kind=_kind), name=f"{_kind}-job"),
        path(
            f"{_prefix}/jobs/<str:job_id>/cancel",
            job_views.JobCancelView.as_view(owner_kind=_kind),
            name=f"{_kind}-job-cancel",
        ),
        path(
            f"{_prefix}/jobs/<str:job_id>/errors/download",
            job_views.JobErrorsDownloadView.as_view(owner_kind=_kind),
            name=f"{_kind}-job-errors",
        ),
        path(
            f"{_prefix}/jobs/<str:job_id>/errors/file",
            job_views.ErrorReportFileView.as_view(owner_kind=_kind),
            name=f"{_kind}-job-errors-file",
        ),
    ]
