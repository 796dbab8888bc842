package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrPartitionMismatch is returned when existing topics disagree with the
// spec's partition counts. Partition counts of keyed topics are fixed at
// creation: changing them would move keys between partitions and break
// per-key ordering and co-partitioning.
var ErrPartitionMismatch = errors.New("partition counts disagree")

// ApplyResult says what Apply changed.
type ApplyResult struct {
	Created   []string
	Updated   []string
	Unchanged []string
}

// Changed reports whether Apply changed anything.
func (r ApplyResult) Changed() bool { return len(r.Created)+len(r.Updated) > 0 }

// Apply makes the cluster match the spec: it creates missing topics and sets
// configs that differ. It changes nothing at all if the spec, or the spec
// against existing topics, disagrees on partition counts. Applying the same
// spec twice changes nothing the second time.
func Apply(ctx context.Context, cl *kgo.Client, topics []Topic, out io.Writer) (ApplyResult, error) {
	var res ApplyResult
	if err := checkSpec(topics); err != nil {
		return res, err
	}
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	existing, err := partitionCounts(ctx, cl, names)
	if err != nil {
		return res, err
	}
	if err := checkExisting(topics, existing); err != nil {
		return res, err
	}

	adm := kadm.NewClient(cl)
	var missing, present []Topic
	for _, t := range topics {
		if _, ok := existing[t.Name]; ok {
			present = append(present, t)
		} else {
			missing = append(missing, t)
		}
	}
	for _, t := range missing {
		if err := create(ctx, adm, t); err != nil {
			return res, err
		}
		res.Created = append(res.Created, t.Name)
		fmt.Fprintf(out, "created  %-40s partitions=%d rf=%d %s\n", t.Name, t.Partitions, t.ReplicationFactor, formatConfigs(t.Configs))
	}
	if err := waitCreated(ctx, cl, missing); err != nil {
		return res, err
	}
	for _, t := range present {
		changed, err := reconcileConfigs(ctx, adm, t)
		if err != nil {
			return res, err
		}
		if len(changed) > 0 {
			res.Updated = append(res.Updated, t.Name)
			fmt.Fprintf(out, "updated  %-40s %s\n", t.Name, strings.Join(changed, " "))
		} else {
			res.Unchanged = append(res.Unchanged, t.Name)
			fmt.Fprintf(out, "ok       %-40s partitions=%d\n", t.Name, t.Partitions)
		}
	}
	return res, nil
}

// checkExisting refuses when existing topics don't have the declared
// partition count, or when existing co-partitioned topics disagree.
func checkExisting(topics []Topic, existing map[string]int) error {
	var problems []string
	for _, t := range topics {
		have, ok := existing[t.Name]
		if !ok {
			continue
		}
		if have != t.Partitions {
			problems = append(problems, fmt.Sprintf("%s has %d partitions, spec wants %d", t.Name, have, t.Partitions))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w, refusing to change anything: %s (partition counts are fixed at creation; "+
			"set ORDER_PARTITIONS/PRODUCT_PARTITIONS to the existing counts or use a new TOPIC_PREFIX)",
			ErrPartitionMismatch, strings.Join(problems, "; "))
	}
	return nil
}

// partitionCounts asks a broker (not kadm's metadata cache, which can be
// seconds old) for the partition count of each existing topic among names.
// Metadata of a topic that is still being created or elected is retried.
func partitionCounts(ctx context.Context, cl *kgo.Client, names []string) (map[string]int, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, n := range names {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	for attempt := 0; ; attempt++ {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("list topics: %w", err)
		}
		counts, pending, err := readCounts(resp)
		if err != nil || pending == "" {
			return counts, err
		}
		if attempt == 40 {
			return nil, fmt.Errorf("topic %s: metadata not settling", pending)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// readCounts returns the partition count of each existing topic, or the name
// of a topic whose metadata is not settled yet.
func readCounts(resp *kmsg.MetadataResponse) (counts map[string]int, pending string, err error) {
	counts = map[string]int{}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		terr := kerr.ErrorForCode(t.ErrorCode)
		switch {
		case terr == nil:
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && kerr.IsRetriable(perr) {
					return nil, *t.Topic, nil
				}
			}
			counts[*t.Topic] = len(t.Partitions)
		case errors.Is(terr, kerr.UnknownTopicOrPartition):
		case kerr.IsRetriable(terr):
			return nil, *t.Topic, nil
		default:
			return nil, "", fmt.Errorf("describe topic %s: %w", *t.Topic, terr)
		}
	}
	return counts, "", nil
}

// waitCreated waits until every named topic shows in metadata with its
// partitions, so callers can use the topics as soon as Apply returns.
func waitCreated(ctx context.Context, cl *kgo.Client, topics []Topic) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	for {
		counts, err := partitionCounts(ctx, cl, names)
		if err != nil {
			return err
		}
		ready := true
		for _, t := range topics {
			switch have, ok := counts[t.Name]; {
			case !ok:
				ready = false
			case have != t.Partitions:
				return fmt.Errorf("%w: %s was created concurrently with %d partitions, spec wants %d",
					ErrPartitionMismatch, t.Name, have, t.Partitions)
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for created topics to appear: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func create(ctx context.Context, adm *kadm.Client, t Topic) error {
	cfgs := make(map[string]*string, len(t.Configs))
	for k, v := range t.Configs {
		cfgs[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, int32(t.Partitions), int16(t.ReplicationFactor), cfgs, t.Name)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		// Created by a concurrent apply, or still settling from our own
		// earlier one: waitCreated checks its partition count.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w (%s)", t.Name, err, resp.ErrMessage)
	}
	return nil
}

func reconcileConfigs(ctx context.Context, adm *kadm.Client, t Topic) ([]string, error) {
	described, err := adm.DescribeTopicConfigs(ctx, t.Name)
	if err != nil {
		return nil, fmt.Errorf("describe configs of %s: %w", t.Name, err)
	}
	rc, err := described.On(t.Name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return nil, fmt.Errorf("describe configs of %s: %w", t.Name, err)
	}
	current := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value != nil {
			current[c.Key] = *c.Value
		}
	}
	var alters []kadm.AlterConfig
	var changed []string
	for _, k := range sortedKeys(t.Configs) {
		want := t.Configs[k]
		if current[k] == want {
			continue
		}
		v := want
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
		changed = append(changed, fmt.Sprintf("%s=%s (was %s)", k, want, current[k]))
	}
	if len(alters) == 0 {
		return nil, nil
	}
	resps, err := adm.AlterTopicConfigs(ctx, alters, t.Name)
	if err != nil {
		return nil, fmt.Errorf("alter configs of %s: %w", t.Name, err)
	}
	for _, r := range resps {
		if r.Err != nil {
			return nil, fmt.Errorf("alter configs of %s: %w (%s)", t.Name, r.Err, r.ErrMessage)
		}
	}
	return changed, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func formatConfigs(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}
