"""Episodes: the runner that plays a dialogue with a policy, tools and a judge; policies, parser, monitors."""
