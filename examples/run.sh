#!/bin/sh
# `npm run example -- <name>`: runs examples/<name>.ts on the project's Node 24 (npm puts
# node_modules/.bin, where the `node` devDependency lives, first on PATH; a system Node 20
# cannot run .ts files). `exec`, so that a signal sent to npm reaches the example itself.
# An unknown or missing name is refused (exit 2) with the names there are.
dir=$(dirname "$0")
known=$(for file in "$dir"/*.ts; do basename "$file" .ts; done | tr '\n' ',' | sed 's/,$//; s/,/, /g')
name=${1-}
case $name in
  "" | */* | .*)
    echo "usage: npm run example -- <name>; examples: $known" >&2
    exit 2
    ;;
esac
if [ ! -f "$dir/$name.ts" ]; then
  echo "unknown example '$name'; examples: $known" >&2
  exit 2
fi
shift
# The examples import the package by its name; in this checkout that name is its sources
# (package.json's exports, condition arbitrage-state-source), installed it is the built package.
exec node --conditions=arbitrage-state-source "$dir/$name.ts" "$@"
