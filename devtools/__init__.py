"""Development tools: the demo, the simulation and the local mail/webhook catchers.

Never imported by the product packages (the wheel does not contain this package); the `billing`
CLI's dev commands import it lazily in a source checkout.
"""
