from rest_framework import serializers

from core.api.serializers import InputSerializer


class ContactsFileSerializer(serializers.Serializer):
    csv = serializers.FileField(help_text="One email or customer ID (sub_...) a line; an optional header line `email`.")


class AddStatisticsBodySerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Subscribers who joined the list")
    invalid = serializers.IntegerField(help_text="Lines that are neither an email nor a customer ID")
    skipped = serializers.IntegerField(help_text="Already members, or naming no subscriber")
    duplicated = serializers.IntegerField(help_text="Lines naming a contact an earlier line named")


class AddStatisticsSerializer(serializers.Serializer):
    id = serializers.CharField()
    statistics = AddStatisticsBodySerializer()


class RemoveStatisticsBodySerializer(serializers.Serializer):
    deleted = serializers.IntegerField(help_text="Subscribers who left the list")
    invalid = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Not members, or naming no subscriber")
    duplicated = serializers.IntegerField()


class RemoveStatisticsSerializer(serializers.Serializer):
    statistics = RemoveStatisticsBodySerializer()


class ArchiveInputSerializer(InputSerializer):
    echo_fields = frozenset({"id"})  # the answer's
    archived = serializers.BooleanField()


class ArchiveOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    archived = serializers.BooleanField()
