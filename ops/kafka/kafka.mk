# Local Apache Kafka broker (KRaft, one node, from Maven Central jars; Java 17+ and Maven, no Docker),
# and a three-node cluster of them (cluster-*: KAFKA_CLUSTER_DIR, KAFKA_CLUSTER_PORT, see kafka.sh).
# Included by the top-level Makefile:  include ops/kafka/kafka.mk
# Instance, ports and heap come from the environment: KAFKA_INSTANCE_DIR, KAFKA_PORT (9092),
# KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (512m). Everything generated lives under .local/kafka/;
# passwords under .local/credentials/, the throwaway TLS CA under .local/tls/.

# := so the folder is taken now, while this file is the last one read.
KAFKA_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
KAFKA_SH ?= $(KAFKA_MK_DIR)kafka.sh

.PHONY: kafka-jars kafka-up kafka-down kafka-status kafka-reset cluster-up cluster-down cluster-status cluster-reset

kafka-jars: ## Fetch the Kafka broker's jars into .local/kafka/lib (only when missing or the pom changed)
	@bash $(KAFKA_SH) jars

kafka-up: ## Start the local secured Kafka broker (SASL/SCRAM on 127.0.0.1:9092) and wait until it serves requests
	@bash $(KAFKA_SH) up

kafka-down: ## Stop the local Kafka broker
	@bash $(KAFKA_SH) down

kafka-status: ## Exit 0 if the local Kafka broker is running
	@bash $(KAFKA_SH) status

kafka-reset: ## Stop the local Kafka broker and delete its data
	@bash $(KAFKA_SH) reset

cluster-up: ## Start a secured three-node KRaft cluster on 127.0.0.1:19092,19112,19132 (replication 3, min ISR 2)
	@bash $(KAFKA_SH) cluster-up

cluster-down: ## Stop the three-node cluster
	@bash $(KAFKA_SH) cluster-down

cluster-status: ## One line per cluster node; exit 0 if all three run
	@bash $(KAFKA_SH) cluster-status

cluster-reset: ## Stop the three-node cluster and delete its data
	@bash $(KAFKA_SH) cluster-reset
