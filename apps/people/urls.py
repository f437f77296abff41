from django.urls import path

from apps.people import api, views

urlpatterns = [
    path("api/people/residents", api.ResidentsApi.as_view(), name="people-residents"),
    path("api/people/residents.csv", api.ResidentsCsvApi.as_view(), name="people-residents-csv"),
    path(
        "api/people/residents/<int:resident_id>/move-out",
        api.ResidentMoveOutApi.as_view(),
        name="people-resident-move-out",
    ),
    path("api/people/contacts", api.ContactsApi.as_view(), name="people-contacts"),
    path(
        "api/people/contacts/<int:assignment_id>/end",
        api.ContactEndApi.as_view(),
        name="people-contact-end",
    ),
    path("api/people/party-members", api.PartyMembersApi.as_view(), name="people-party-members"),
    path("api/people/party-orgs", api.PartyOrgsApi.as_view(), name="people-party-orgs"),
    path("api/people/committees", api.CommitteesApi.as_view(), name="people-committees"),
    path("api/people/households", api.HouseholdsApi.as_view(), name="people-households"),
    path("api/people/centers", api.CentersApi.as_view(), name="people-centers"),
    path("api/people/center-links", api.CenterLinksApi.as_view(), name="people-center-links"),
    path("api/people/center-lasso", api.CenterLassoApi.as_view(), name="people-center-lasso"),
    path("api/people/proposals", api.ProposalsApi.as_view(), name="people-proposals"),
    path(
        "api/people/proposals/<int:proposal_id>/accept",
        api.ProposalAcceptApi.as_view(),
        name="people-proposal-accept",
    ),
    path("people/centers/", views.centers_page, name="people-centers-page"),
]
