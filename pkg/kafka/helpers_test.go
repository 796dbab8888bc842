package kafka_test

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kadmCreate(ctx context.Context, cl *kgo.Client, topic string, partitions, rf int) (kadm.CreateTopicResponse, error) {
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), int16(rf), nil, topic)
	if err == nil {
		err = resp.Err
	}
	return resp, err
}
