"""SubscriptionWorkflow, one workflow per customer subscription (see `workflow.py`).

Modules: `workflow` (the run, its message handlers and queries), `invoicing` (closing a period:
aggregate, rate, issue, notify, hand to the payment watch), `chores` (the main loop's other I/O:
usage, payments, status, thresholds, approvals), `intake` (usage accepted and counted per
period) and `views` (status query, Web UI details, notification requests).
"""

from workflows.subscription.workflow import SubscriptionWorkflow

__all__ = ["SubscriptionWorkflow"]
