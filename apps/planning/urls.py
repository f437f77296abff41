from django.urls import path

from apps.planning import api, views

urlpatterns = [
    path("planning/", views.plans_page, name="planning"),
    path("planning/login/", views.PlannerLoginView.as_view(), name="planning-login"),
    path("planning/plans/<int:plan_id>/", views.editor_page, name="planning-editor"),
    path("api/planning/plans", api.PlansApi.as_view(), name="planning-plans"),
    path("api/planning/proposals", api.ProposalsApi.as_view(), name="planning-proposals"),
    path("api/planning/plans/<int:plan_id>", api.PlanApi.as_view(), name="planning-plan"),
    path(
        "api/planning/plans/<int:plan_id>/check", api.PlanCheckApi.as_view(), name="planning-check"
    ),
    path(
        "api/planning/plans/<int:plan_id>/range", api.PlanRangeApi.as_view(), name="planning-range"
    ),
    path("api/planning/plans/<int:plan_id>/diff", api.PlanDiffApi.as_view(), name="planning-diff"),
    path(
        "api/planning/plans/<int:plan_id>/publish",
        api.PlanPublishApi.as_view(),
        name="planning-publish",
    ),
    path("api/planning/geometry/split", api.SplitApi.as_view(), name="planning-split"),
    path("api/planning/geometry/merge", api.MergeApi.as_view(), name="planning-merge"),
]
