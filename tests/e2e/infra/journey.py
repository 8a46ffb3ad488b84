"""The user journey through the gateway, as one function: the boundary-mode tests and the mesh tests run
the same steps, so "works with the mesh" means exactly what "works" means without it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.infra.client import SuiteClient

#: What a service's whoami reports as the source of the user, per boundary mode.
SOURCE = {"trust": "unverified_token", "passthrough": "verified_token", "reissue": "internal_token",
          "extract": "signed_headers", "phantom": "verified_token"}  # fmt: skip


def journey_through_the_gateway(s: SuiteClient) -> str:
    """alice creates and edits a todo, shares it with bob (who may read, not change it), reminders finds it
    due, alice revokes the share and deletes the todo. Returns the todo's id."""
    alice, bob, carol = (s.password_token(u) for u in ("alice", "bob", "carol"))
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    created = s.gateway("POST", "/todos", token=alice, json={"title": f"journey in {s.mode}", "due_at": due})
    assert created.status_code == 201, created.text
    todo_id = created.json()["id"]
    assert s.gateway("PATCH", f"/todos/{todo_id}", token=alice, json={"notes": "edited"}).status_code == 200
    assert todo_id in [t["id"] for t in s.gateway("GET", "/todos", token=alice).json()["data"]]

    assert s.gateway("GET", f"/todos/{todo_id}", token=bob).status_code == 404
    shared = s.gateway("POST", "/shares", token=alice, json={"todo_id": todo_id, "username": "bob", "note": s.mode})
    assert shared.status_code == 201, shared.text
    assert s.gateway("GET", f"/todos/{todo_id}", token=bob).status_code == 200
    assert s.gateway("PATCH", f"/todos/{todo_id}", token=bob, json={"done": True}).status_code == 403
    received = s.gateway("GET", "/shares/received", token=bob).json()["data"]
    assert [item["share"]["note"] for item in received if item["todo"]["id"] == todo_id] == [s.mode]

    run = s.gateway("POST", "/reminders/run", token=carol)
    assert run.status_code == 200, run.text
    assert todo_id in [r["todo_id"] for r in s.gateway("GET", "/reminders", token=alice).json()["data"]]

    share_id = shared.json()["id"]
    assert s.gateway("DELETE", f"/shares/{share_id}", token=alice).status_code == 204
    assert s.gateway("GET", f"/todos/{todo_id}", token=bob).status_code == 404
    assert s.gateway("DELETE", f"/todos/{todo_id}", token=alice).status_code == 204
    return todo_id
