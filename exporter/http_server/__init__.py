"""A small HTTP/1.1 server with nothing of the exporter in it. Takes a WSGI app, listening
sockets and a web config file (TLS, basic auth); hands on answers under deadlines and
limits: h11 parses, a render gate and an answer budget bound the work and the memory,
bcrypt checks are bounded per client. The exporter's pages are web/'s."""
