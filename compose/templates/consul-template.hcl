# The nginx upstream, configured as a consul-template user configures it: this file and web-upstream.ctmpl are
# consul-template's own formats (HCL, Go template) and run unchanged under hashicorp/consul-template; the stack
# runs them under consul-templates (`-config` below). The Consul address and token come from the environment
# (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN_FILE).
wait {
  min = "50ms"
  max = "500ms"
}

template {
  source      = "/etc/portside/templates/web-upstream.ctmpl"
  destination = "/etc/portside/conf.d/web.conf"
  # nginx -t on the whole config, then reload (nginx -s reload signals the master: shared PID namespace). When the
  # command fails, consul-templates puts the last good file back (consul-template leaves the new one in place).
  command         = "nginx -t -q -e stderr -c /etc/portside/nginx/nginx.conf && nginx -s reload -e stderr -c /etc/portside/nginx/nginx.conf"
  command_timeout = "10s"
}
