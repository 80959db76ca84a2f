"""Rules every service evaluates the same way on its own copy of the data (pure, stdlib only).

The catalog owns End-of-Sale rules and pricing owns price rows and promotions; the subscription service keeps
copies of both from their events and must decide purchases and renewals exactly as they would.
"""
