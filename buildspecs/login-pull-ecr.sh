aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$DOCKHAND_PULL_REGISTRY"
