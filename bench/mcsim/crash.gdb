# mcsim under gdb for tools/mcsim-memory.js (a crash's native stack in the run's output):
#   XSIOT_MCSIM_GDB=1 node tools/mcsim-memory.js ...
# (stdbuf -oL: mcsim's output line by line, as without gdb; gdb follows stdbuf's exec of mcsim.)
set pagination off
set confirm off
handle SIGPIPE nostop noprint pass
handle SIGUSR1 nostop noprint pass
handle SIGUSR2 nostop noprint pass
run
bt 40
info registers rip
