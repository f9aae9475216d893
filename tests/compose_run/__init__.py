"""`make services`: the compose files run, without a container engine.

For docker-compose.yml and docker-compose.prod.yml (production with generated secrets),
every service built from our image runs its entrypoint and command with exactly the
environment `compose config` resolves, as the image's user, in a root file system built
from ops/docker/Dockerfile's runtime stage; its own health check must pass. Redis,
PostgreSQL and Mailpit are stand-ins on loopback. Then production's refusals: the
example env file's placeholders, a missing required variable.

  image.py, dockerfile.py   the image: the runtime stage on an overlay of this machine's root
  container.py, launch.py   one service's container, and `docker exec` for its health check
  standins.py               redis, postgres, mailpit
  project.py                one compose file, in depends_on order
  refusals.py               what production must refuse
  checkout.py               what development mounts at /app
  __main__.py               the namespaces, the runs, the tables

Not covered (a real engine is needed): pulling or building with Docker itself, the real
redis, postgres and mailpit images, compose networking and published ports, restart
policies, init (tini) as PID 1, resource limits, stop signals and grace periods.
"""
