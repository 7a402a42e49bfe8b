"""create_external_ids on a writable database: only the missing ids, made as the platform makes them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from backfill_app.standalone.models import ExternalId, ExternalIdType
from tests.commands import failing_with_summary, output_and_summary, output_of, summary_value


@pytest.mark.django_db
def test_all_users_get_the_missing_ids_and_existing_ones_are_kept():
    User = get_user_model()
    users = User.objects.bulk_create([User(id=n, username=f"learner{n}") for n in range(1, 6)])
    xapi = ExternalIdType.objects.get(name="xapi")
    kept = ExternalId.objects.create(user=users[0], external_id_type=xapi)
    output, summary = output_and_summary("create_external_ids", "--type=xapi", "--all_users")

    assert (summary["outcome"], summary["exit_code"]) == ("completed", 0)
    assert (summary["type"], summary["users"], summary["created"], summary["already_had_one"]) == ("xapi", 5, 4, 1)
    assert summary_value(output, "External ids of type xapi created") == "4"  # printed from the same data
    ids = dict(ExternalId.objects.filter(external_id_type=xapi).values_list("user_id", "external_user_id"))
    assert sorted(ids) == [1, 2, 3, 4, 5] and ids[1] == kept.external_user_id
    assert len(set(ids.values())) == 5 and all(uid.version == 4 for uid in ids.values())
    # Caliper ids are another type: none was made.
    assert not ExternalId.objects.filter(external_id_type__name="caliper").exists()


@pytest.mark.django_db
def test_a_file_that_is_not_a_dead_letter_file_is_named_and_nothing_is_created(tmp_path):
    not_json = tmp_path / "tracking.log"
    not_json.write_text("2024-03-02 10:00:00,000 INFO tracking - {}\n")
    message, summary = failing_with_summary(
        output_of, "create_external_ids", "--type=xapi", f"--from_dead_letters={not_json}"
    )
    assert f"{not_json}: not a dead-letter file" in message
    assert (summary["outcome"], summary["exit_code"], summary["message"]) == ("refused", 1, message)
    assert not ExternalId.objects.exists()
