"""Event grouping (features.md §13): actions collected by ``group_by`` values, one notification per flush.

Pure: ``identity`` (group key and labels), ``schedule`` (the wait / interval / repeat lifecycle),
``notification`` (the flush's action and payload), ``record`` (the stored group). I/O: ``repository``
(group records over the StateStore), ``delivery`` (sending a flush), ``closing`` (the manual flush
and close), ``feature`` (the verdict handler,
the due-time worker and the manual flush)."""

from tidegate.groups.closing import Closed
from tidegate.groups.delivery import DELIVERY_INDEX
from tidegate.groups.feature import GROUPS_INDEX, EventGroups
from tidegate.groups.identity import group_key, group_labels
from tidegate.groups.notification import NOTIFICATION_TYPE, notification_action, notification_payload
from tidegate.groups.record import Flush, Group, GroupSettings, GroupState, Member

__all__ = [
    "DELIVERY_INDEX",
    "GROUPS_INDEX",
    "NOTIFICATION_TYPE",
    "Closed",
    "EventGroups",
    "Flush",
    "Group",
    "GroupSettings",
    "GroupState",
    "Member",
    "group_key",
    "group_labels",
    "notification_action",
    "notification_payload",
]
