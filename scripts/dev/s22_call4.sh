#!/usr/bin/env bash
# Session 22, call 4 (one GPU): the README's GPU quickstart end to end at HEAD, and its report
# (session 21's call 11 again, after the prefill kernel and the P V helper).
exec bash "$(dirname "$0")/s17_call11.sh"
