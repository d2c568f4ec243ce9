"""Every change that goes live names the backtest that justified it in the audit trail
(detection.serving.justification), by every path: rules saved in the admin (the form and the
changelist), list entries added, switched off or deleted, a model promoted or rolled out, the
bands moved; and each kind of change applied from its backtest's report, refused when the world
moved since. The "Shadow" buttons of a rule's and a version's page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from detection import services
from detection.contracts import Decision
from detection.models import BacktestRun, ListEntry, Mode, ModelVersion, Rule
from detection.serving import justification, registry
from detection.serving.scoring import decide
from detection.tests.history import FrameHistory
from detection.tests.pipelines import register_feature_model, simulated
from detection.tests.test_backtest_console import RULE_FORM, _finished_run
from detection.tests.test_scoring import as_input

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("scoring_model")]

RULE_ADD = reverse("admin:detection_rule_add")
ENTRY_FORM = {
    "list_type": "block",
    "kind": "merchant_id",
    "value": "M-77",
    "reason": "Skimmer",
    "expires_at_0": "",
    "expires_at_1": "",
    "active": "on",
}


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _run(change, *, days_ago=0, status=BacktestRun.Status.SUCCEEDED, report=None):
    """A backtest of `change` that began and finished `days_ago` days ago."""
    run = BacktestRun.objects.create(
        period_start=timezone.now() - timedelta(days=40),
        period_end=timezone.now() - timedelta(days=33),
        change=change,
        status=status,
        progress=100,
        report={"transactions": 10, **(report or {})},
    )
    moment = timezone.now() - timedelta(days=days_ago)
    BacktestRun.objects.filter(pk=run.pk).update(created_at=moment, started_at=moment, finished_at=moment)
    run.refresh_from_db()
    return run


def _last(action):
    return AuditEntry.objects.filter(action=action).order_by("-created_at", "-id").first()


def _messages(response):
    return [str(message) for message in response.context["messages"]] if response.context else []


# --- Rules saved in the admin ---------------------------------------------------------------------


def test_a_rule_added_in_the_admin_is_audited_untested_then_justified(model_manager):
    client = _client(model_manager)
    page = client.post(RULE_ADD, {**RULE_FORM, "_save": "Save"}, follow=True)
    untested = Rule.objects.get(name="Big spenders")
    entry = AuditEntry.objects.get(action="rule.create", target_id=str(untested.pk))
    assert entry.actor == model_manager and entry.after["amount"] == "150.00"
    assert "backtest" in entry.after and entry.after["backtest"] is None
    assert "No backtest of this change in the last 30 days." in _messages(page)

    # A backtest of the same kind, action and condition (named otherwise, in its own JSON) justifies it.
    run = _run({"rule": {"name": "x", "kind": "amount_above", "action": "block", "amount": "150"}})
    page = client.post(RULE_ADD, {**RULE_FORM, "name": "Big again", "_save": "Save"}, follow=True)
    rule = Rule.objects.get(name="Big again")
    entry = AuditEntry.objects.get(action="rule.create", target_id=str(rule.pk))
    assert entry.after["backtest"] == run.pk and entry.note == f"Justified by backtest #{run.pk}."
    assert not any("No backtest" in message for message in _messages(page))


def test_a_rule_edited_in_the_admin_names_the_backtest_of_that_edit(model_manager):
    rule = services.rule_create(actor=None, name="Big", kind="amount_above", action="review", amount=700)
    run = _run({"rule": {"id": rule.pk, "amount": "300"}})
    change = reverse("admin:detection_rule_change", args=[rule.pk])
    form = {**RULE_FORM, "name": "Big", "action": "review", "order": "100", "amount": "300", "_save": "Save"}
    _client(model_manager).post(change, form)
    rule.refresh_from_db()
    assert rule.amount == Decimal("300.00")
    entry = _last("rule.change")
    assert entry.actor == model_manager and entry.before["amount"] == "700.00"
    assert entry.after["amount"] == "300.00" and entry.after["backtest"] == run.pk

    # A rename decides nothing new: audited, no backtest asked for.
    _client(model_manager).post(change, {**form, "name": "Bigger"})
    renamed = _last("rule.change")
    assert renamed.after["name"] == "Bigger" and "backtest" not in renamed.after


def test_the_changelist_order_and_active_are_audited(model_manager):
    rule = services.rule_create(
        actor=None, name="Off", kind="amount_above", action="block", amount=900, active=False
    )
    page = _client(model_manager).post(
        reverse("admin:detection_rule_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(rule.pk),
            "form-0-order": "5",
            "form-0-active": "on",
            "_save": "Save",
        },
        follow=True,
    )
    rule.refresh_from_db()
    assert rule.active and rule.order == 5
    entry = _last("rule.change")
    assert entry.before["active"] is False and entry.after["active"] is True
    assert entry.actor == model_manager and entry.after["backtest"] is None
    assert "No backtest of this change in the last 30 days." in _messages(page)


def test_a_backtest_of_another_rule_an_old_one_or_one_before_the_last_change_does_not_justify(
    model_manager, settings
):
    settings.DETECTION_BACKTEST_JUSTIFICATION_DAYS = 7
    rule = services.rule_create(actor=None, name="Big", kind="amount_above", action="review", amount=700)
    other = services.rule_create(actor=None, name="Other", kind="amount_above", action="review", amount=50)

    def edit(amount):
        services.rule_update(actor=model_manager, rule=rule, fields={"amount": Decimal(amount)})
        return _last("rule.change").after["backtest"]

    _run({"rule": {"id": other.pk, "amount": "300"}})  # another rule
    _run({"rule": {"id": rule.pk, "amount": "301"}})  # another amount
    _run({"rule": {"id": rule.pk, "amount": "300", "action": "block"}})  # another action
    _run({"rule": {"kind": "amount_above", "action": "review", "amount": "300"}})  # a new rule
    _run({"rule": {"id": rule.pk, "amount": "300"}}, days_ago=8)  # older than the setting
    _run({"rule": {"id": rule.pk, "amount": "300"}}, status=BacktestRun.Status.FAILED)
    assert edit("300") is None

    stale = _run({"rule": {"id": rule.pk, "amount": "200"}}, days_ago=1)
    services.rule_update(actor=None, rule=rule, fields={"name": "Renamed"})  # changed since
    assert edit("200") is None
    fresh = _run({"rule": {"id": rule.pk, "amount": "100"}}, days_ago=6)
    assert edit("100") is None  # begun before the rename: it measured the rule as it was then
    assert stale.pk != fresh.pk
    again = _run({"rule": {"id": rule.pk, "amount": "50"}})
    assert edit("50") == again.pk


# --- List entries ---------------------------------------------------------------------------------


def test_list_entries_added_switched_off_and_deleted_are_justified_or_said_untested(model_manager):
    client = _client(model_manager)
    added = _run({"list_add": [{"list_type": "block", "kind": "merchant_id", "value": "M-77"}]})
    client.post(reverse("admin:detection_listentry_add"), {**ENTRY_FORM, "_save": "Save"})
    entry = ListEntry.objects.get(value="M-77")
    audit = _last("list_entry.add")
    assert audit.after["backtest"] == added.pk and audit.note == f"Skimmer Justified by backtest #{added.pk}."

    # Switched off in the admin: taken off its list, with the backtest of taking it off.
    removed = _run({"list_remove": [{"list_type": "block", "kind": "merchant_id", "value": "M-77"}]})
    change = reverse("admin:detection_listentry_change", args=[entry.pk])
    client.post(change, {**ENTRY_FORM, "active": "", "_save": "Save"})
    entry.refresh_from_db()
    assert not entry.active
    audit = _last("list_entry.remove")
    assert audit.before["active"] is True and audit.after["active"] is False
    assert audit.after["backtest"] == removed.pk and audit.actor == model_manager

    # Switched on again: the backtests above began before it was switched off.
    page = client.post(change, {**ENTRY_FORM, "_save": "Save"}, follow=True)
    assert _last("list_entry.change").after["backtest"] is None
    assert "No backtest of this change in the last 30 days." in _messages(page)

    # Deleted: audited as taken off, untested.
    client.post(reverse("admin:detection_listentry_delete", args=[entry.pk]), {"post": "yes"})
    assert not ListEntry.objects.exists()
    audit = _last("list_entry.remove")
    assert audit.after["deleted"] is True and audit.after["backtest"] is None
    assert audit.target_id == str(entry.pk)


def test_a_list_entry_added_from_a_case_or_the_demo_is_justified_by_the_same_keys(model_manager):
    run = _run({"list_add": [{"list_type": "block", "kind": "country", "value": "kp"}]})
    _run({"list_add": [{"list_type": "allow", "kind": "country", "value": "BR"}]})
    services.list_entry_add(list_type="block", kind="country", value=" KP", actor=model_manager)
    assert _last("list_entry.add").after["backtest"] == run.pk
    services.list_entry_add(list_type="block", kind="country", value="BR", actor=model_manager)
    assert _last("list_entry.add").after["backtest"] is None


# --- Models: promotion, rollout, bands ------------------------------------------------------------


@pytest.fixture
def champion():
    return register_feature_model(promote="force")


def test_a_promotion_names_the_backtest_of_that_version(model_manager, champion):
    challenger = register_feature_model(algorithm="logreg", promote="never")
    assert _last("model_version.promote").after["backtest"] is None  # the first, registered untested
    run = _run({"model": challenger.version})
    _run({"model": champion.version})
    client = _client(model_manager)
    client.post(
        reverse("admin:detection_modelversion_changelist"),
        {"action": "promote_selected", "_selected_action": [challenger.pk], "confirm": "yes"},
    )
    challenger.refresh_from_db()
    assert challenger.status == ModelVersion.Status.CHAMPION
    entry = _last("model_version.promote")
    assert entry.after == {"champion": challenger.version, "backtest": run.pk}
    assert f"Justified by backtest #{run.pk}." in entry.note and entry.actor == model_manager


def test_a_rollout_set_in_the_admin_is_audited_and_justified(model_manager, champion):
    challenger = register_feature_model(algorithm="logreg", promote="never")
    page = reverse("admin:detection_modelversion_change", args=[challenger.pk])
    client = _client(model_manager)
    client.post(page, {"notes": "", "trial_mode": "shadow", "rollout_percent": "", "_save": "Save"})
    shadow = _last("model_version.trial")
    assert shadow.before == {"trial_mode": "live", "rollout_percent": None}
    assert shadow.after == {"trial_mode": "shadow", "rollout_percent": None}  # decides nothing: no backtest
    answer = client.post(
        page, {"notes": "", "trial_mode": "rollout", "rollout_percent": "10", "_save": "Save"}
    )
    assert "No backtest of this change" in " ".join(_messages(client.get(answer.url)))
    assert _last("model_version.trial").after == {
        "trial_mode": "rollout",
        "rollout_percent": 10,
        "backtest": None,
    }
    notes = client.post(
        page,
        {"notes": "Watch it", "trial_mode": "rollout", "rollout_percent": "10", "_save": "Save"},
        follow=True,
    )
    assert not any("No backtest" in message for message in _messages(notes))  # nothing went live
    run = _run({"model": challenger.version})
    client.post(page, {"notes": "", "trial_mode": "rollout", "rollout_percent": "30", "_save": "Save"})
    assert _last("model_version.trial").after["backtest"] == run.pk
    client.post(page, {"notes": "4111 1111 1111 1111", "trial_mode": "rollout", "rollout_percent": "30"})
    challenger.refresh_from_db()
    assert "4111 1111 1111 1111" not in challenger.notes  # masked, as before
    assert (
        AuditEntry.objects.filter(action="model_version.trial").count() == 3
    )  # notes are not a trial change


def test_bands_applied_from_a_backtest_change_what_the_next_decision_does(model_manager, champion):
    history = FrameHistory(simulated())
    frame = simulated()
    row = frame[frame["occurred_at"] >= frame["occurred_at"].min() + timedelta(days=20)].iloc[0]
    before = decide(as_input(row), history=history)  # the champion is loaded and cached now
    assert before.decided_by == "model" and before.decision != Decision.BLOCK
    registry.loaded_version(champion.version)  # and cached by name, as backtests read it
    old = dict(champion.thresholds)
    run = _finished_run({"bands": {"review": 0.0, "block": 0.0}})
    BacktestRun.objects.filter(pk=run.pk).update(report={**run.report, "baseline_model": champion.version})

    report = _client(model_manager).get(reverse("admin:detection_backtestrun_change", args=[run.pk]))
    assert "Use these thresholds" in report.content.decode()
    applied = _client(model_manager).post(reverse("admin:detection_backtest_apply", args=[run.pk]))
    assert applied.url == reverse("admin:detection_modelversion_change", args=[champion.pk])
    champion.refresh_from_db()
    assert champion.thresholds["review"] == 0.0 and champion.thresholds["block"] == 0.0
    entry = _last("model_version.thresholds")
    assert entry.before == {"review": old["review"], "block": old["block"]}
    assert entry.after == {"review": 0.0, "block": 0.0, "backtest": run.pk} and entry.actor == model_manager

    after = decide(as_input(row), history=history)
    assert after.decision == Decision.BLOCK and after.score == pytest.approx(before.score)
    assert registry.loaded_version(champion.version).thresholds["block"] == 0.0
    page = _client(model_manager).get(reverse("admin:detection_backtestrun_change", args=[run.pk]))
    assert 'data-testid="backtest-applied"' in page.content.decode()


def test_bands_out_of_order_are_refused_as_a_backtest_refuses_them(model_manager, champion):
    run = _run({"bands": {"review": 0.9, "block": 0.1}}, report={"baseline_model": champion.version})
    page = _client(model_manager).post(reverse("admin:detection_backtest_apply", args=[run.pk]), follow=True)
    assert "cannot be above the block threshold" in page.content.decode()
    assert not AuditEntry.objects.filter(action="model_version.thresholds").exists()


def test_a_model_is_promoted_from_its_report_and_refused_once_the_champion_changed(
    model_manager, analyst, champion
):
    challenger = register_feature_model(algorithm="logreg", promote="never")
    run = _finished_run({"model": challenger.version})
    url = reverse("admin:detection_backtestrun_change", args=[run.pk])
    apply = reverse("admin:detection_backtest_apply", args=[run.pk])
    # An analyst reads the report but may not promote.
    assert "Promote this model" not in _client(analyst).get(url).content.decode()
    assert _client(analyst).post(apply).status_code == 403
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == champion

    assert "Promote this model" in _client(model_manager).get(url).content.decode()
    _client(model_manager).post(apply)
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == challenger
    assert _last("model_version.promote").after["backtest"] == run.pk
    applied = _client(analyst).get(url).content.decode()
    audit = _last("model_version.promote")
    assert reverse("admin:accounts_auditentry_change", args=[audit.pk]) in applied  # analysts read the trail

    # Backtested against the champion of then: once another was promoted, backtest it again.
    third = register_feature_model(algorithm="logreg", promote="never")
    stale = _run({"model": third.version}, days_ago=1)
    registry.rollback(actor=None)
    refused = _client(model_manager).post(
        reverse("admin:detection_backtest_apply", args=[stale.pk]), follow=True
    )
    assert "champion was changed after this backtest" in refused.content.decode()
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == champion
    bands = _run({"bands": {"block": 0.99}}, days_ago=1)
    refused = _client(model_manager).post(
        reverse("admin:detection_backtest_apply", args=[bands.pk]), follow=True
    )
    assert "champion was changed after this backtest" in refused.content.decode()


# --- Lists applied from a report ------------------------------------------------------------------


def test_list_entries_are_added_and_removed_from_their_reports(analyst, model_manager):
    items = [
        {"list_type": "block", "kind": "merchant_id", "value": "M-1"},
        {"list_type": "block", "kind": "country", "value": "kp", "expires_at": "2099-01-01T00:00:00Z"},
    ]
    add = _finished_run({"list_add": items})
    url = reverse("admin:detection_backtestrun_change", args=[add.pk])
    assert "Add these list entries" in _client(analyst).get(url).content.decode()  # analysts add entries
    answer = _client(analyst).post(reverse("admin:detection_backtest_apply", args=[add.pk]))
    assert answer.status_code == 302
    assert sorted(ListEntry.objects.values_list("value", flat=True)) == ["KP", "M-1"]
    assert ListEntry.objects.get(value="KP").expires_at.year == 2099
    audits = AuditEntry.objects.filter(action="list_entry.add")
    assert [a.after["backtest"] for a in audits] == [add.pk, add.pk]
    assert all(a.actor == analyst for a in audits)

    remove = _finished_run({"list_remove": items[:1]})
    remove_url = reverse("admin:detection_backtestrun_change", args=[remove.pk])
    assert "Remove these list entries" not in _client(analyst).get(remove_url).content.decode()
    assert (
        _client(analyst).post(reverse("admin:detection_backtest_apply", args=[remove.pk])).status_code == 403
    )
    assert "Remove these list entries" in _client(model_manager).get(remove_url).content.decode()
    _client(model_manager).post(reverse("admin:detection_backtest_apply", args=[remove.pk]))
    assert not ListEntry.objects.get(value="M-1").active
    assert _last("list_entry.remove").after["backtest"] == remove.pk

    # Adding it again is refused while it is listed; once it changed after the backtest, too.
    again = _run({"list_remove": items[1:]}, days_ago=1)
    services.list_entry_update(entry=ListEntry.objects.get(value="KP"), fields={"reason": "x"}, actor=None)
    refused = _client(model_manager).post(
        reverse("admin:detection_backtest_apply", args=[again.pk]), follow=True
    )
    assert "lists were changed after this backtest" in refused.content.decode()
    assert ListEntry.objects.get(value="KP").active
    listed = _finished_run({"list_add": items[1:]})
    refused = _client(model_manager).post(
        reverse("admin:detection_backtest_apply", args=[listed.pk]), follow=True
    )
    assert "lists were changed after this backtest" in refused.content.decode()


# --- Shadow buttons -------------------------------------------------------------------------------


def test_the_shadow_button_puts_a_rule_in_shadow_and_shows_its_report(model_manager, analyst):
    rule = services.rule_create(actor=None, name="Big", kind="amount_above", action="block", amount=700)
    page = reverse("admin:detection_rule_change", args=[rule.pk])
    shadow = reverse("admin:detection_rule_shadow", args=[rule.pk])
    assert f'formaction="{shadow}"' in _client(model_manager).get(page).content.decode()
    assert 'data-testid="shadow"' not in _client(analyst).get(page).content.decode()
    assert _client(analyst).post(shadow).status_code == 403
    assert _client(model_manager).get(shadow).url == page  # only a POST changes anything
    rule.refresh_from_db()
    assert rule.mode == Mode.LIVE

    answer = _client(model_manager).post(shadow, follow=True)
    rule.refresh_from_db()
    assert rule.mode == Mode.SHADOW and rule.active
    body = answer.content.decode()
    assert answer.redirect_chain[-1][0] == page and "Nothing was recorded for this trial" in body
    assert "runs in shadow" in body and 'data-testid="shadow"' not in body
    entry = _last("rule.change")
    assert (
        entry.before["mode"] == "live" and entry.after["mode"] == "shadow" and "backtest" not in entry.after
    )


def test_the_shadow_button_puts_a_challenger_in_shadow(model_manager, champion):
    challenger = register_feature_model(algorithm="logreg", promote="never")
    page = reverse("admin:detection_modelversion_change", args=[challenger.pk])
    shadow = reverse("admin:detection_modelversion_shadow", args=[challenger.pk])
    assert f'action="{shadow}"' in _client(model_manager).get(page).content.decode()
    champion_page = reverse("admin:detection_modelversion_change", args=[champion.pk])
    assert 'data-testid="shadow"' not in _client(model_manager).get(champion_page).content.decode()
    answer = _client(model_manager).post(shadow, follow=True)
    challenger.refresh_from_db()
    assert challenger.trial_mode == Mode.SHADOW and registry.trial_model().loaded.name == challenger.version
    assert "Nothing was recorded for this trial" in answer.content.decode()  # its report, empty yet
    assert _last("model_version.trial").after == {"trial_mode": "shadow", "rollout_percent": None}
    # The champion is refused, in words.
    refused = _client(model_manager).post(
        reverse("admin:detection_modelversion_shadow", args=[champion.pk]), follow=True
    )
    assert "only a challenger goes on trial" in refused.content.decode()


def test_the_shadow_and_apply_addresses_need_the_csrf_token(model_manager):
    rule = services.rule_create(actor=None, name="Big", kind="amount_above", action="block", amount=700)
    client = Client(enforce_csrf_checks=True)
    client.force_login(model_manager)
    assert client.post(reverse("admin:detection_rule_shadow", args=[rule.pk])).status_code == 403
    run = _finished_run({"rule": {"id": rule.pk, "amount": "5"}})
    assert client.post(reverse("admin:detection_backtest_apply", args=[run.pk])).status_code == 403
    rule.refresh_from_db()
    assert rule.mode == Mode.LIVE and rule.amount == Decimal("700.00")


@pytest.mark.parametrize("junk", ["¹", "1;DROP TABLE detection_rule", "a" * 400, "9" * 25, "-1"])
@pytest.mark.parametrize(
    "name",
    ["admin:detection_rule_shadow", "admin:detection_modelversion_shadow", "admin:detection_backtest_apply"],
)
def test_junk_ids_on_the_apply_and_shadow_addresses_are_not_found(model_manager, junk, name):
    client = _client(model_manager)
    url = reverse(name, args=[junk])
    assert client.post(url).status_code == 404
    assert client.get(url).status_code == 404


def test_the_report_says_what_applying_does_for_each_kind(model_manager):
    rule = services.rule_create(actor=None, name="Big", kind="amount_above", action="block", amount=700)
    labels = {
        "Enable this rule": {"rule": {"kind": "amount_above", "action": "block", "amount": 5}},
        "Apply this change": {"rule": {"id": rule.pk, "amount": 5}},
        "Add these list entries": {"list_add": [{"list_type": "block", "kind": "country", "value": "KP"}]},
        "Remove these list entries": {
            "list_remove": [{"list_type": "block", "kind": "country", "value": "KP"}]
        },
        "Use these thresholds": {"bands": {"block": 0.5}},
        "Promote this model": {"model": "v0001-x"},
    }
    client = _client(model_manager)
    for label, change in labels.items():
        run = _finished_run(change)
        body = client.get(reverse("admin:detection_backtestrun_change", args=[run.pk])).content.decode()
        assert 'data-testid="backtest-apply"' in body and label in body, label


def test_the_justification_window_is_a_setting(settings):
    settings.DETECTION_BACKTEST_JUSTIFICATION_DAYS = 2
    _run({"model": "v9"}, days_ago=3)
    assert justification.justifying_backtest({"model": "v9"}) is None
    settings.DETECTION_BACKTEST_JUSTIFICATION_DAYS = 4
    assert justification.justifying_backtest({"model": "v9"}) is not None


def test_a_rule_backtested_in_shadow_is_applied_once_and_named(model_manager):
    run = _finished_run({"rule": {"kind": "amount_above", "action": "block", "amount": 5, "mode": "shadow"}})
    apply = reverse("admin:detection_backtest_apply", args=[run.pk])
    _client(model_manager).post(apply)
    rule = Rule.objects.get()
    assert rule.mode == Mode.SHADOW
    assert AuditEntry.objects.get(action="rule.create").after["backtest"] == run.pk
    again = _client(model_manager).post(apply, follow=True)
    assert "applied already" in again.content.decode() and Rule.objects.count() == 1


def test_a_rule_deleted_in_the_admin_names_the_backtest_of_taking_it_out(model_manager):
    client = _client(model_manager)
    blocking = services.rule_create(actor=None, name="Big", kind="amount_above", action="block", amount=700)
    untested = services.rule_create(actor=None, name="Other", kind="amount_above", action="block", amount=900)
    shadow = services.rule_create(
        actor=None, name="Trial", kind="amount_above", action="block", amount=50, mode=Mode.SHADOW
    )
    # The backtest of taking the first out, and one of editing the second (which is not its deletion).
    run = _run({"rule": {"id": blocking.pk, "active": False}})
    _run({"rule": {"id": untested.pk, "amount": "950"}})
    delete = reverse("admin:detection_rule_delete", args=[blocking.pk])
    client.post(delete, {"post": "yes"})
    assert not Rule.objects.filter(pk=blocking.pk).exists()
    entry = AuditEntry.objects.get(action="rule.delete", target_id=str(blocking.pk))
    assert entry.actor == model_manager and entry.before["amount"] == "700.00"
    assert entry.after == {"deleted": True, "backtest": run.pk}
    assert entry.note == f"Justified by backtest #{run.pk}."

    # Several at once from the list: each audited; untested says so, a shadow decided nothing.
    client.post(
        reverse("admin:detection_rule_changelist"),
        {"action": "delete_selected", "_selected_action": [untested.pk, shadow.pk], "post": "yes"},
    )
    assert not Rule.objects.filter(pk__in=[untested.pk, shadow.pk]).exists()
    assert AuditEntry.objects.get(action="rule.delete", target_id=str(untested.pk)).after == {
        "deleted": True,
        "backtest": None,
    }
    assert AuditEntry.objects.get(action="rule.delete", target_id=str(shadow.pk)).after == {"deleted": True}
