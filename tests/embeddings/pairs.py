"""A fixed set of sentence pairs for the local model's quality check and bench/embeddings.py.

Each related pair says the same thing in other words (alert routing is the use case); each unrelated pair
shares no topic. The local model must score every related pair clearly above every unrelated one."""

RELATED: tuple[tuple[str, str], ...] = (
    ("Infrastructure outage, servers down", "The production database server crashed and the site is offline"),
    ("Infrastructure outage, servers down", "All web nodes are unreachable after the data center lost power"),
    ("Payment failed", "The customer's credit card was declined at checkout"),
    ("Disk almost full", "Storage volume usage reached 95 percent on the backup host"),
    ("Security breach, unauthorized access", "Someone logged into the admin account from an unknown IP"),
    ("Network latency is high", "Ping times to the gateway jumped to several seconds"),
    ("User wants a refund", "The customer asked to get their money back for the order"),
    ("Password reset request", "I forgot my password and cannot log in to my account"),
    ("Shipping delay", "The parcel is late and has not been delivered yet"),
    ("Memory leak in the application", "The service process keeps using more RAM until it is killed"),
)

UNRELATED: tuple[tuple[str, str], ...] = (
    ("Infrastructure outage, servers down", "Our team lunch is on Friday at the Italian place"),
    ("Infrastructure outage, servers down", "The new marketing brochure uses a blue color palette"),
    ("Payment failed", "The hiking trail was covered in fresh snow this morning"),
    ("Disk almost full", "She is learning to play the violin"),
    ("Security breach, unauthorized access", "The recipe needs two cups of flour and one egg"),
    ("Network latency is high", "The museum opens a new painting exhibition next week"),
    ("User wants a refund", "The football match ended in a draw"),
    ("Password reset request", "Tomatoes grow best in full sun"),
    ("Shipping delay", "The orchestra rehearsed the symphony twice"),
    ("Memory leak in the application", "My grandmother knits warm scarves for winter"),
)
