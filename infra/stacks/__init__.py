"""One module per CloudFormation stack; ``infra.app.build_app`` wires them together."""
