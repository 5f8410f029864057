"""portside registrator: Docker events -> Consul services and checks; a drop-in for
gliderlabs/registrator (see README)."""
