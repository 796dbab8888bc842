#!/usr/bin/env bash
# with-stack.sh [--brokers N] -- CMD...: start real Apache Kafka, PostgreSQL and
# Redis (pkg/localstack), run CMD with KAFKA_BROKERS, DATABASE_URL and REDIS_URL
# set, then stop every server, whatever CMD did. Exits with CMD's status.
set -euo pipefail
cd "$(dirname "$0")/.."

brokers=1
dir=.local/test
while [[ $# -gt 0 ]]; do
  case "$1" in
    --brokers) brokers=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done

bin=.cache/bin/orderpipe
mkdir -p .cache/bin
go build -o "$bin" ./cmd/orderpipe

down() { "$bin" stack down --dir "$dir" || true; }
trap down EXIT
trap 'exit 130' INT TERM

"$bin" stack up --dir "$dir" --kafka-brokers "$brokers" --env-file "$dir/env"
set -a
# shellcheck disable=SC1090
. "$dir/env"
set +a
echo "with-stack: KAFKA_BROKERS=$KAFKA_BROKERS DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL"
"$@"
