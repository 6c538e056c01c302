"""Tiny synthetic behaviour with an obvious structure, shared by the recommender tests.

Two user groups like two disjoint item groups: users ``a00..a19`` take items ``i00..i05``
and users ``b00..b19`` take ``i06..i11``, each user a different three of their group's six
items (the last one bought, the others viewed).  A sensible model ranks a user's unseen
in-group items above every out-group item.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pytest

from shoplm.interactions import Interactions
from shoplm.recommend.base import FitContext, UserBatch
from shoplm.schema import Item
from shoplm.store.base import EventColumns

_GROUP_SIZE = 6
_USERS_PER_GROUP = 20


@dataclass(frozen=True)
class Groups:
    """The layout of the synthetic data and the check every model must pass."""

    group_size: int = _GROUP_SIZE
    n_items: int = 2 * _GROUP_SIZE

    def item_group(self, item_row: int) -> int:
        return item_row // self.group_size

    def items(self) -> list[Item]:
        """The catalog: each group its own brand and category (what kg and features read)."""
        return [
            Item(
                item_id=item_id,
                title=f"item {i}",
                brand="Alpha" if i < self.group_size else "Beta",
                category="Left > A" if i < self.group_size else "Right > B",
            )
            for i, item_id in enumerate(self.item_ids())
        ]

    def same_group(self, item_row: int) -> list[int]:
        """The other items of ``item_row``'s group."""
        group = self.item_group(item_row)
        return [i for i in range(self.n_items) if self.item_group(i) == group and i != item_row]

    def other_group(self, item_row: int) -> list[int]:
        group = self.item_group(item_row)
        return [i for i in range(self.n_items) if self.item_group(i) != group]

    @staticmethod
    def user_group(user_id: str) -> int:
        return 0 if user_id.startswith("a") else 1

    def misranked(
        self, scores: np.ndarray, groups: list[int], histories: list[np.ndarray]
    ) -> list[int]:
        """Rows whose unseen in-group items do not all beat every out-group item."""
        bad = []
        for b, (group, history) in enumerate(zip(groups, histories, strict=True)):
            seen = {int(i) for i in history}
            rows = range(self.n_items)
            inside = [i for i in rows if self.item_group(i) == group and i not in seen]
            outside = [i for i in rows if self.item_group(i) != group]
            if not scores[b, inside].min() > scores[b, outside].max():
                bad.append(b)
        return bad

    def item_ids(self) -> list[str]:
        return [f"i{i:02d}" for i in range(self.n_items)]


GROUPS = Groups()


def _two_group_events() -> EventColumns:
    tastes = list(combinations(range(_GROUP_SIZE), 3))  # 20 distinct 3-item tastes
    item_ids = GROUPS.item_ids()
    users, items, types, stamps = [], [], [], []
    clock = 1_700_000_000.0
    for group, prefix in enumerate("ab"):
        for u in range(_USERS_PER_GROUP):
            for k, offset in enumerate(tastes[u]):
                users.append(f"{prefix}{u:02d}")
                items.append(item_ids[group * _GROUP_SIZE + offset])
                types.append("purchase" if k == 2 else "view")
                stamps.append(clock)
                clock += 60.0
    n = len(users)
    return EventColumns(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        types=np.array(types, dtype=object),
        values=np.full(n, np.nan),
        timestamps=np.array(stamps, dtype=np.float64),
        session_ids=np.array([""] * n, dtype=object),
    )


@pytest.fixture(scope="session")
def groups() -> Groups:
    return GROUPS


@pytest.fixture(scope="session")
def two_groups() -> Interactions:
    """40 users x 12 items (more users than items, so a transposed matrix shows up)."""
    return Interactions.from_events(_two_group_events(), GROUPS.item_ids())


@pytest.fixture(scope="session")
def group_embeddings() -> np.ndarray:
    """Item text vectors: group A near axis 0, group B near axis 1, a little noise."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(0.0, 0.05, size=(GROUPS.n_items, 8)).astype(np.float32)
    vectors[:_GROUP_SIZE, 0] += 1.0
    vectors[_GROUP_SIZE:, 1] += 1.0
    return vectors


@pytest.fixture()
def context(group_embeddings: np.ndarray) -> FitContext:
    return FitContext(item_embeddings=group_embeddings, seed=7)


@pytest.fixture()
def all_users(two_groups: Interactions) -> UserBatch:
    """Every training user, by row, with their training history."""
    return UserBatch.for_training_users(two_groups, np.arange(two_groups.n_users))


@pytest.fixture()
def as_unknown(all_users: UserBatch) -> UserBatch:
    """The same histories, but as users the model never saw (row -1)."""
    return UserBatch(np.full(len(all_users), -1), list(all_users.histories))


@pytest.fixture()
def training_groups(two_groups: Interactions) -> list[int]:
    return [GROUPS.user_group(u) for u in two_groups.user_ids]
