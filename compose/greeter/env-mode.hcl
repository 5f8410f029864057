# consul-templates env mode (envconsul-style): the greeter's environment comes from Consul KV. Every key under
# portside/greeter/ becomes a variable (portside/greeter/greeting -> GREETING). The app starts only once the prefix
# exists (never with half its settings) and is restarted with the new environment when a value changes:
#   consul kv put portside/greeter/greeting "hello again"    (acl-init puts a first greeting)
env {
  prefixes = ["portside/greeter"]
  upcase   = true
}

exec {
  command      = ["python3", "/etc/portside/greeter/greeter.py"]
  kill_timeout = "5s"
}
