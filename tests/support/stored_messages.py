"""Message rows written straight to the table, for tests of what reads them (search, pages)."""

from __future__ import annotations

from sqlalchemy import insert

from shared.db.tables import contents, messages


def store_messages(engine, key_id: int, addresses: list[str], topic: str = "t",
                   **values) -> list[int]:
    """One message per address, in order (the last is the newest), sharing one content;
    ``values`` sets further columns of every row (``state``, ``provider_message_id``…).
    Their ids."""
    with engine.begin() as conn:
        content_id = conn.execute(insert(contents).values(
            api_key_id=key_id, subject="s", html="<p>h</p>").returning(contents.c.id)
        ).scalar_one()
        return list(conn.execute(insert(messages).returning(messages.c.id), [
            {"api_key_id": key_id, "content_id": content_id, "topic_id": topic,
             "from_addr": "s@example.com", "to_addr": address, **values}
            for address in addresses]).scalars())
