# A consul-template configuration, read unchanged by consul-templates: from this directory (relative paths are
# taken from the working directory, as consul-template does), `consul-templates -config consul-template.hcl`.
# Keys consul-templates does not implement (vault, nomad, deduplicate, ...) are named in one error at start.
consul {
  address = "127.0.0.1:8500"
  retry {
    enabled  = true
    attempts = 12        # consul-templates retries forever, with backoff, whatever this says
    backoff  = "250ms"
  }
}

log_level = "info"
wait {
  min = "100ms"
  max = "1s"
}

template {
  # a .ctmpl source is a Go template (consul-template's language); .j2 is Jinja2
  source      = "nginx-upstream.conf.j2"
  destination = "/etc/nginx/conf.d/portside-web.conf"
  perms       = 0644     # octal, as in consul-template
  backup      = true
  command     = "nginx -t -q && nginx -s reload"
  command_timeout = "30s"
  # consul-templates additions: nginx -t on the candidate before it replaces the live file, and the value guard
  check_command = "python3 -m consul_templates.nginx_check {path}"
  syntax        = "nginx"
}
